"""What store platforms send us (Shopify and WooCommerce order webhooks), read into our conversions vocabulary.

Nothing here touches HTTP, Redis or the settings: the edge's hook endpoints verify a delivery with
`webhook_signature`, hand the raw body to the platform's module and record what comes back.
"""
