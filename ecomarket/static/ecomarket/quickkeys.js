/* The till's quick keys: a button per product head office laid out for this store (loose fruit and vegetables, which
   carry no barcode). A tap adds the product as a scan of its SKU would (pos.js's window.tillAdd), so a weighed one
   then waits for its weight on the keypad or the keyboard, and the kept catalog answers with the box away. */
(function () {
  const keys = document.getElementById("quick-keys");
  if (!keys) return;
  keys.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sku]");
    if (button && window.tillAdd) window.tillAdd(button.dataset.sku);
  });
})();
