"""Whatever a verified body holds, a reader yields conversions or `Unused`, never another exception."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.stores.platforms import sample
from tracker.stores import shopify, woocommerce
from tracker.stores.payload import StoreConversion, Unused, decode_json

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# Real payloads with one field replaced by anything: reaches the readers' inner branches, not only the first check.
_FIELDS = ("id", "order_id", "total_price", "total", "currency", "note_attributes", "meta_data", "refunds",
           "transactions", "financial_status", "status", "test", "landing_site", "billing", "billing_address",
           "customer", "processed_at", "date_paid_gmt")


def _mutated(name: str) -> st.SearchStrategy[object]:
    return st.builds(lambda key, value: {**sample(name), key: value}, st.sampled_from(_FIELDS), _json)


def _read(module: object, topic: str, payload: object) -> None:
    try:
        found = module.conversions(topic, payload, "sclid")  # type: ignore[attr-defined]
    except Unused:
        return
    assert found and all(isinstance(conversion, StoreConversion) for conversion in found)


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from(shopify.TOPICS + ("orders/create",)),
    payload=_json | _mutated("shopify_orders_paid.json") | _mutated("shopify_refunds_create.json"),
)
def test_shopify_reader_never_raises_anything_but_unused(topic: str, payload: object) -> None:
    _read(shopify, topic, payload)


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from(woocommerce.TOPICS + ("order.deleted",)), payload=_json | _mutated(
    "woocommerce_order.json"))
def test_woocommerce_reader_never_raises_anything_but_unused(topic: str, payload: object) -> None:
    _read(woocommerce, topic, payload)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_decoding_any_bytes_yields_json_or_unused(body: bytes) -> None:
    try:
        decode_json(body)
    except Unused as exc:
        assert exc.reason == "not_json"
