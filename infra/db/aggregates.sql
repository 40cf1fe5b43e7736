-- Aggregate tables of TRAIN_AGGREGATES=incremental (MySQL 8 / MariaDB 10.6+), and their grant.
--
-- What they hold (layers/genre_model/python/genre_model/train/aggregates.py): per customer and
-- genre the cents, tracks and skipped lines folded so far (customer_genre_spend), one row per
-- customer with totals and favourite genre (customer_spend), and the last folded invoice_line id
-- (aggregate_watermark). Training creates any that are missing when its user may; with this file
-- a DBA creates them instead and the training user needs no CREATE privilege, only row rights on
-- these three tables (its SELECT on the five Chinook tables comes from create_training_user.sql).
-- Without either, training logs one warning and runs the full aggregation query.
--
-- Run as an administrator, connected to the Chinook database (the tables live next to it):
--   mysql -h HOST -u admin -p Chinook -e "SOURCE infra/db/aggregates.sql;"
-- Optional before SOURCE: SET @train_user='genre_train'; SET @train_host='%';
-- Idempotent. To start the aggregates over: python -m genre_model aggregates rebuild.
-- The DDL below is the code's (aggregates.DDL); tests/integration/test_aggregates.py keeps them equal.

CREATE TABLE IF NOT EXISTS customer_genre_spend (
    customer_id BIGINT NOT NULL,
    genre_key BIGINT NOT NULL,
    genre_id BIGINT NULL,
    cents DECIMAL(65,0) NOT NULL,
    tracks DECIMAL(65,0) NOT NULL,
    skipped BIGINT NOT NULL,
    PRIMARY KEY (customer_id, genre_key)
);

CREATE TABLE IF NOT EXISTS customer_spend (
    customer_id BIGINT NOT NULL,
    genre_id BIGINT NULL,
    total_cents DECIMAL(65,0) NOT NULL,
    total_tracks DECIMAL(65,0) NOT NULL,
    cents DECIMAL(65,0) NOT NULL,
    skipped_lines BIGINT NOT NULL,
    PRIMARY KEY (customer_id)
);

CREATE TABLE IF NOT EXISTS aggregate_watermark (
    name VARCHAR(64) NOT NULL,
    last_line_id BIGINT NOT NULL,
    lines_folded BIGINT NOT NULL,
    PRIMARY KEY (name)
);

SET @train_user = COALESCE(@train_user, 'genre_train');
SET @train_host = COALESCE(@train_host, '%');
SET @account = CONCAT(QUOTE(@train_user), '@', QUOTE(@train_host));
SET @db = REPLACE(DATABASE(), '`', '``');

SET @stmt = CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON `', @db, '`.`customer_genre_spend` TO ', @account);
PREPARE s FROM @stmt;
EXECUTE s;
DEALLOCATE PREPARE s;

SET @stmt = CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON `', @db, '`.`customer_spend` TO ', @account);
PREPARE s FROM @stmt;
EXECUTE s;
DEALLOCATE PREPARE s;

SET @stmt = CONCAT('GRANT SELECT, INSERT, UPDATE, DELETE ON `', @db, '`.`aggregate_watermark` TO ', @account);
PREPARE s FROM @stmt;
EXECUTE s;
DEALLOCATE PREPARE s;
