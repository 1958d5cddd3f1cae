-- A customer's months are read together (QueryConsumption asks for a page of
-- customers over a window): the key leads with the customer.
ALTER TABLE consumption_daily DROP CONSTRAINT consumption_daily_pkey;
ALTER TABLE consumption_daily ADD PRIMARY KEY (customer_id, month);
