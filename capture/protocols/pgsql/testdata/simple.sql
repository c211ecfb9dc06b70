DROP TABLE IF EXISTS accounts;
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric);
INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50), (3, 'carol', 75);
SELECT id, owner, balance FROM accounts WHERE balance > 60 ORDER BY id;
UPDATE accounts SET balance = balance + 1 WHERE id IN (1, 2);
SELECT * FROM no_such_table;
SELECT 1/0;
BEGIN;
DELETE FROM accounts WHERE id = 3;
ROLLBACK;
BEGIN; INSERT INTO accounts VALUES (4, 'dave', 10); UPDATE accounts SET balance = 0 WHERE id = 4; COMMIT;
COPY accounts (id, owner, balance) FROM STDIN;
10	erin	1
11	frank	2
12	grace	3
\.
COPY (SELECT * FROM accounts ORDER BY id) TO STDOUT;
SELECT repeat('x', 20000) AS big;
;
SELECT 1; SELECT * FROM missing; SELECT 2;
