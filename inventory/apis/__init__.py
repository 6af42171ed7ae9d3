"""The inventory HTTP API (docs/architecture.md), one module per side: ``branch`` (the POS API: sales, returns,
receipts, counts, stock), ``central`` (the chain's stock) and ``prototype`` (the seed prototype's routes, on the same
services). Views validate, call one service, serialise; the shapes are in inventory/serializers.py."""
