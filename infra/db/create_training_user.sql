-- Read-only database user for the training function (MySQL 8 / MariaDB 10.6+).
--
-- Grants SELECT on the Chinook tables training reads (customer, invoice, invoice line, track,
-- genre; PascalCase or snake_case naming, whichever exists) of the CURRENT database, and nothing
-- else: no other table, no other database, no write, no GRANT OPTION. Idempotent: re-running
-- resets the password and the grants.
--
-- Run as an administrator, connected to the Chinook database, with the password in a session
-- variable (never in this file):
--   mysql -h HOST -u admin -p Chinook \
--     -e "SET @train_password='...'; SOURCE infra/db/create_training_user.sql;"
-- Optional before SOURCE: SET @train_user='genre_train'; SET @train_host='%';
-- Then store {"host","port","username","password","dbname"} in the secret passed as DbSecretArn.
-- The user may only log in over TLS (REQUIRE SSL): the server refuses it in plain text even when a
-- client is misconfigured (DB_TLS=disable). For a database reached over loopback only (local
-- development), SET @train_require_tls=0 first.

SET @train_user = COALESCE(@train_user, 'genre_train');
SET @train_host = COALESCE(@train_host, '%');
SET @train_require_tls = COALESCE(@train_require_tls, 1);

DROP PROCEDURE IF EXISTS genre_create_training_user;
DELIMITER $$
CREATE PROCEDURE genre_create_training_user()
BEGIN
  DECLARE done INT DEFAULT 0;
  DECLARE tbl VARCHAR(64);
  DECLARE granted INT DEFAULT 0;
  DECLARE account VARCHAR(200);
  DECLARE tables_cursor CURSOR FOR
    SELECT DISTINCT t.table_name
      FROM information_schema.tables AS t
     WHERE t.table_schema = DATABASE()
       AND t.table_type = 'BASE TABLE'
       AND BINARY t.table_name IN (
         'Customer', 'Invoice', 'InvoiceLine', 'Track', 'Genre',
         'customer', 'invoice', 'invoice_line', 'track', 'genre');
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;

  IF DATABASE() IS NULL THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'connect to the Chinook database first (USE Chinook)';
  END IF;
  IF @train_password IS NULL OR CHAR_LENGTH(@train_password) < 16 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'SET @train_password to at least 16 characters first';
  END IF;

  SET account = CONCAT(QUOTE(@train_user), '@', QUOTE(@train_host));

  SET @stmt = CONCAT('CREATE USER IF NOT EXISTS ', account, ' IDENTIFIED BY ', QUOTE(@train_password),
                     IF(@train_require_tls, ' REQUIRE SSL', ' REQUIRE NONE'),
                     ' WITH MAX_USER_CONNECTIONS 5');
  PREPARE s FROM @stmt; EXECUTE s; DEALLOCATE PREPARE s;
  SET @stmt = CONCAT('ALTER USER ', account, ' IDENTIFIED BY ', QUOTE(@train_password),
                     IF(@train_require_tls, ' REQUIRE SSL', ' REQUIRE NONE'),
                     ' WITH MAX_USER_CONNECTIONS 5');
  PREPARE s FROM @stmt; EXECUTE s; DEALLOCATE PREPARE s;
  -- Start from nothing, so a re-run never leaves an old, wider grant behind.
  SET @stmt = CONCAT('REVOKE ALL PRIVILEGES, GRANT OPTION FROM ', account);
  PREPARE s FROM @stmt; EXECUTE s; DEALLOCATE PREPARE s;

  OPEN tables_cursor;
  grant_loop: LOOP
    FETCH tables_cursor INTO tbl;
    IF done THEN
      LEAVE grant_loop;
    END IF;
    SET @stmt = CONCAT('GRANT SELECT ON `', REPLACE(DATABASE(), '`', '``'), '`.`',
                       REPLACE(tbl, '`', '``'), '` TO ', account);
    PREPARE s FROM @stmt; EXECUTE s; DEALLOCATE PREPARE s;
    SET granted = granted + 1;
  END LOOP;
  CLOSE tables_cursor;

  IF granted <> 5 THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'expected the 5 Chinook tables (customer, invoice, invoice line, track, genre)';
  END IF;
END$$
DELIMITER ;

CALL genre_create_training_user();
DROP PROCEDURE IF EXISTS genre_create_training_user;
SET @train_password = NULL;

SHOW GRANTS FOR CURRENT_USER;
