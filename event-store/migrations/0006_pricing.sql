-- Model prices. Owned by the `pricing` projection: every price of every
-- model, so the current price list and the whole history can be read.
CREATE TABLE rm_model_prices (
    model                  text NOT NULL,
    -- From when the price applies; a model's prices never overlap in time.
    effective_from         timestamptz NOT NULL,
    -- USD per million tokens, exact.
    input_usd_per_million  numeric NOT NULL,
    output_usd_per_million numeric NOT NULL,
    set_at                 timestamptz NOT NULL,
    PRIMARY KEY (model, effective_from)
);
