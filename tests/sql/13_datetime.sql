-- date, timestamp and timestamptz: input formats, ISO text output, time zone
-- rendering (the session is set to UTC first), arithmetic with integers and
-- intervals, comparisons, extraction, ordering, and invalid input.

SET TIME ZONE 'UTC';
SHOW TimeZone;

-- date
SELECT '2024-02-29'::date, DATE '1999-12-31', '20240105'::date, 'Jan 5, 2024'::date, '2024-1-5'::date;
SELECT '2023-02-29'::date;
SELECT '2024-13-01'::date;
SELECT 'yesterdayish'::date;
SELECT '2024-02-28'::date + 1, '2024-03-01'::date - 1, '2024-03-01'::date - '2024-01-01'::date, '2024-01-01'::date + 366;
SELECT '2024-01-31'::date + interval '1 month', '2024-01-01'::date - interval '1 day';
SELECT '2024-01-01'::date < '2024-01-02'::date, '2024-01-01'::date = '2024-01-01 00:00'::timestamp, 'infinity'::date > '9999-12-31'::date;
SELECT extract(year FROM DATE '2024-07-04'), extract(month FROM DATE '2024-07-04'), extract(day FROM DATE '2024-07-04'), extract(dow FROM DATE '2024-07-04'), extract(doy FROM DATE '2024-07-04');
SELECT date_part('year', DATE '2024-07-04'), date_trunc('month', DATE '2024-07-04');
SELECT '0001-01-01'::date, '4713-01-01 BC'::date, '5874897-12-31'::date;

-- timestamp
SELECT '2024-01-02 03:04:05'::timestamp, '2024-01-02T03:04:05.123456'::timestamp, '2024-01-02 03:04:05.5'::timestamp, '2024-01-02'::timestamp;
SELECT '2024-01-02 03:04:05.1234567'::timestamp, TIMESTAMP '2024-06-30 23:59:59.999999';
SELECT '2024-01-02 25:00:00'::timestamp;
SELECT '2024-01-02 03:04:05'::timestamp + interval '1 hour', '2024-01-02 03:04:05'::timestamp - interval '2 days 3 hours', '2024-03-01 00:00'::timestamp - '2024-02-01 12:00'::timestamp;
SELECT '2024-01-02 03:04:05'::timestamp::date, '2024-01-02'::date::timestamp, date_trunc('hour', TIMESTAMP '2024-01-02 03:04:05'), date_trunc('day', TIMESTAMP '2024-01-02 03:04:05');
SELECT extract(hour FROM TIMESTAMP '2024-01-02 03:04:05'), extract(epoch FROM TIMESTAMP '2024-01-02 03:04:05'), extract(second FROM TIMESTAMP '2024-01-02 03:04:05.25');
SELECT interval '1 day 2 hours', interval '90 minutes', interval '1 year 2 months', interval '36 hours' = interval '1 day 12 hours', interval '-1 day';

-- timestamptz: stored as an instant, shown in the session time zone
SELECT '2024-01-02 03:04:05+00'::timestamptz, '2024-01-02 03:04:05+02'::timestamptz, '2024-01-02 03:04:05-05:30'::timestamptz, '2024-07-01 12:00 Europe/Paris'::timestamptz;
SELECT '2024-01-02 03:04:05'::timestamptz, TIMESTAMPTZ '2024-01-02 03:04:05.678+01';
SELECT '2024-01-02 03:04:05+02'::timestamptz = '2024-01-02 01:04:05+00'::timestamptz, '2024-01-02 03:04:05+02'::timestamptz::timestamp, '2024-01-02 03:04:05'::timestamp::timestamptz;
SELECT '2024-01-02 03:04:05+00'::timestamptz + interval '1 day', '2024-01-02 03:04:05+00'::timestamptz - '2024-01-01 00:00:00+00'::timestamptz;
SELECT '2024-01-02 03:04:05+00'::timestamptz AT TIME ZONE 'America/New_York', TIMESTAMP '2024-01-02 03:04:05' AT TIME ZONE 'Asia/Tokyo';
SELECT extract(hour FROM TIMESTAMPTZ '2024-01-02 03:04:05+05'), date_trunc('day', TIMESTAMPTZ '2024-01-02 23:30:00-02');
SET TIME ZONE 'America/Los_Angeles';
SELECT '2024-01-02 03:04:05+00'::timestamptz, '2024-07-02 03:04:05+00'::timestamptz, '2024-01-02 03:04:05+00'::timestamptz::date;
SET TIME ZONE 'UTC';
SELECT '2024-01-02 03:04:05+00'::timestamptz;

-- a table of dates and times
CREATE TABLE dt_t (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz);
INSERT INTO dt_t VALUES
    (1, '2024-01-15', '2024-01-15 08:30:00', '2024-01-15 08:30:00+00'),
    (2, '2023-12-31', '2023-12-31 23:59:59.999', '2024-01-01 01:00:00+02'),
    (3, '2024-02-29', '2024-02-29 12:00:00', '2024-02-29 12:00:00-08'),
    (4, NULL, NULL, NULL),
    (5, '2024-01-15', '2024-01-15 00:00:00', '2024-01-14 23:00:00-01');
SELECT * FROM dt_t ORDER BY id;
SELECT id FROM dt_t WHERE d = '2024-01-15';
SELECT id FROM dt_t WHERE ts >= '2024-01-01' AND ts < '2024-02-01';
SELECT id FROM dt_t WHERE tz = '2024-01-15 00:00:00+00';
SELECT id FROM dt_t WHERE d BETWEEN '2024-01-01' AND '2024-02-01';
SELECT id, d FROM dt_t ORDER BY d DESC NULLS LAST, id;
SELECT id, tz FROM dt_t ORDER BY tz, id;
SELECT d, count(*) FROM dt_t GROUP BY d;
SELECT min(d), max(d), min(ts), max(tz) FROM dt_t;
SELECT id, d + 30, ts + interval '1 week', tz - interval '30 minutes', extract(month FROM d) FROM dt_t;
SELECT id, ts::date = d FROM dt_t;
INSERT INTO dt_t (id, d) VALUES (6, '2024-02-30');
INSERT INTO dt_t (id, ts) VALUES (6, 'not a time');
INSERT INTO dt_t (id, d) VALUES (6, 20240101);
UPDATE dt_t SET d = d + 1 WHERE id = 3 RETURNING d;

DROP TABLE dt_t;
