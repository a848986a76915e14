-- TokenUsageRecorded 2.0 splits each record's cost into its input and
-- output parts (domain::upcasting upcasts 1.0 events on read). The usage
-- read model keeps both; rows projected before get them computed here,
-- exactly as the upcaster does.
ALTER TABLE rm_usage
    ADD COLUMN input_cost_usd  numeric,
    ADD COLUMN output_cost_usd numeric;
UPDATE rm_usage
   SET input_cost_usd  = input_tokens * input_usd_per_million / 1000000,
       output_cost_usd = output_tokens * output_usd_per_million / 1000000;
ALTER TABLE rm_usage
    ALTER COLUMN input_cost_usd SET NOT NULL,
    ALTER COLUMN output_cost_usd SET NOT NULL;
