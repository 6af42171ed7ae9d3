"""What the till page is told about pricing when it opens: how the chain's scale labels read (the till reads a
scanned label itself, to show the product and its weight on the line before the sale) and the promotions running or
to come, by id, so a receipt names the promotion a line got. The sale's answer stays what the customer pays."""

from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ecomarket.quantities import money_text
from pricing.models import Promotion
from pricing.scale import label_formats


def _figure(value) -> str | None:
    return None if value is None else money_text(value)


def till_pricing(*, now: datetime | None = None) -> dict:
    promotions = Promotion.objects.filter(ends_at__gt=now or timezone.now()).order_by("starts_at", "id")
    return {
        "scale_formats": [asdict(fmt) for fmt in label_formats(settings.SCALE_BARCODE_FORMATS)],
        "promotions": {
            str(promotion.id): {
                "name": promotion.name,
                "kind": promotion.kind,
                "skus": promotion.skus,
                "starts_at": promotion.starts_at.isoformat(),
                "ends_at": promotion.ends_at.isoformat(),
                "percent": _figure(promotion.percent),
                "price": _figure(promotion.price),
                "buy": promotion.buy,
                "pay": promotion.pay,
            }
            for promotion in promotions
        },
    }
