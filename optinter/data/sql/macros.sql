-- Scalar macros shared by the data stages. Loaded on every connection (optinter.data.sql.connect).

-- ---------------------------------------------------------------------------------------------
-- Seeded split. murmur3's 32-bit finaliser on UBIGINT: every product is < 2^32 * 2^32, so no
-- overflow, and the result depends on (row_id, seed) only: not on threads, order or batching.
-- u = h / 2^32 in [0, 1); split 0 = train (u < train_end), 1 = valid (u < valid_end), 2 = test.
-- xorshift binds its argument once through a one-element lambda: a macro that names its
-- argument twice is expanded twice, and three nested rounds would cost 2^9 evaluations.
CREATE OR REPLACE TEMP MACRO xorshift(x, k) AS list_transform([x], lambda y: xor(y, y >> k))[1];
CREATE OR REPLACE TEMP MACRO fmix32(x) AS
    xorshift((xorshift((xorshift(x, 16) * 2246822507::UBIGINT) & 4294967295::UBIGINT, 13)
              * 3266489909::UBIGINT) & 4294967295::UBIGINT, 16);
CREATE OR REPLACE TEMP MACRO split_hash(row_id, seed) AS
    fmix32(xor(fmix32(xor(row_id::UBIGINT & 4294967295::UBIGINT,
                          fmix32(seed::UBIGINT & 4294967295::UBIGINT))),
               row_id::UBIGINT >> 32));
CREATE OR REPLACE TEMP MACRO split_code(row_id, seed, train_end, valid_end) AS
    list_transform([split_hash(row_id, seed) / 4294967296.0],
                   lambda u: CASE WHEN u < train_end THEN 0 WHEN u < valid_end THEN 1 ELSE 2 END)[1]::UTINYINT;

-- ---------------------------------------------------------------------------------------------
-- Feature transforms.
-- FuxiCTR's integer bucketing: floor(ln(x)^2) for x > 2, else x; missing is its own value ''.
-- Numeric columns are DOUBLE (ingest_table.sql): an integral x <= 2 is written as an integer
-- ('1', not '1.0'), as the integer columns of the built-in layouts always were.
CREATE OR REPLACE TEMP MACRO log_bucket(x) AS
    CASE WHEN x IS NULL THEN ''
         WHEN x > 2 THEN CAST(CAST(floor(pow(ln(x), 2)) AS BIGINT) AS VARCHAR)
         WHEN x = trunc(x) AND x > -9.2e18 THEN CAST(CAST(x AS BIGINT) AS VARCHAR)
         ELSE CAST(x AS VARCHAR) END;

-- format table's label and numbers (ingest_table.sql). A label is 0 / 1 (any numeric type,
-- '0' / '1' text, 0.0 / 1.0) or a boolean; anything else, NULL included, is refused.
CREATE OR REPLACE TEMP MACRO label_code(x) AS
    CASE lower(trim(CAST(x AS VARCHAR))) WHEN '1' THEN 1 WHEN '0' THEN 0 WHEN 'true' THEN 1
        WHEN 'false' THEN 0 WHEN '1.0' THEN 1 WHEN '0.0' THEN 0 END::TINYINT;
CREATE OR REPLACE TEMP MACRO label_problem(name, x) AS CASE
    WHEN x IS NULL THEN printf('column %s (the label): expected 0 or 1, found a missing value', name)
    WHEN label_code(x) IS NULL THEN printf('column %s (the label): expected 0 or 1, found %s', name, shown(CAST(x AS VARCHAR)))
    END;
-- A numeric value: empty / NULL (missing) or a finite number.
CREATE OR REPLACE TEMP MACRO number_problem(name, x) AS CASE
    WHEN x IS NULL OR trim(CAST(x AS VARCHAR)) = '' THEN NULL
    WHEN TRY_CAST(x AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(x AS DOUBLE))
        THEN printf('column %s: expected a number or empty, found %s', name, shown(CAST(x AS VARCHAR)))
    END;

-- make-ipinyou-data (mkyzx.py featTrans): first OS and first browser substring, in this order.
CREATE OR REPLACE TEMP MACRO ua_os(ua) AS CASE
    WHEN contains(ua, 'windows') THEN 'windows' WHEN contains(ua, 'ios') THEN 'ios'
    WHEN contains(ua, 'mac') THEN 'mac' WHEN contains(ua, 'android') THEN 'android'
    WHEN contains(ua, 'linux') THEN 'linux' ELSE 'other' END;
CREATE OR REPLACE TEMP MACRO ua_browser(ua) AS CASE
    WHEN contains(ua, 'chrome') THEN 'chrome' WHEN contains(ua, 'sogou') THEN 'sogou'
    WHEN contains(ua, 'maxthon') THEN 'maxthon' WHEN contains(ua, 'safari') THEN 'safari'
    WHEN contains(ua, 'firefox') THEN 'firefox' WHEN contains(ua, 'theworld') THEN 'theworld'
    WHEN contains(ua, 'opera') THEN 'opera' WHEN contains(ua, 'ie') THEN 'ie' ELSE 'other' END;
CREATE OR REPLACE TEMP MACRO os_browser(ua) AS ua_os(lower(ua)) || '_' || ua_browser(lower(ua));
-- make-ipinyou-data (mkyzx.py featTrans) slot floor-price buckets.
CREATE OR REPLACE TEMP MACRO slotprice_bucket(x) AS CASE
    WHEN CAST(x AS BIGINT) > 100 THEN '101+' WHEN CAST(x AS BIGINT) > 50 THEN '51-100'
    WHEN CAST(x AS BIGINT) > 10 THEN '11-50' WHEN CAST(x AS BIGINT) > 0 THEN '1-10' ELSE '0' END;
-- formalizeua.py writes empty raw fields as 'null'; the raw-log reader does the same.
CREATE OR REPLACE TEMP MACRO nz(x) AS CASE WHEN x = '' THEN 'null' ELSE x END;

-- ---------------------------------------------------------------------------------------------
-- Line validation: NULL for a good line (p = the line split on the delimiter), else what is wrong.
-- Integers are strict: optional sign and digits only (TRY_CAST alone would accept '1.5', '1e3' or
-- ' 5'), and must fit int64. Up to 18 digits always fits, so the regex alone decides most values.
CREATE OR REPLACE TEMP MACRO is_int(x) AS
    regexp_full_match(x, '[+-]?[0-9]{1,18}')
    OR (regexp_full_match(x, '[+-]?[0-9]+') AND TRY_CAST(x AS BIGINT) IS NOT NULL);
-- Control characters are escaped so that every message stays one printable line.
CREATE OR REPLACE TEMP MACRO shown(x) AS
    '''' || replace(replace(replace(replace(left(x, 40), chr(0), '\x00'), chr(9), '\t'), chr(13), '\r'), chr(10), '\n')
    || CASE WHEN length(x) > 40 THEN '...' ELSE '' END || '''';
CREATE OR REPLACE TEMP MACRO first_bad_int(xs) AS list_position(list_transform(xs, lambda x: x <> '' AND NOT is_int(x)), true);
-- What is wrong with one integer field (NULL when nothing is): a syntax error and an overflow
-- need different fixes, so they get different messages.
CREATE OR REPLACE TEMP MACRO int_problem(name, x, empty_ok) AS CASE
    WHEN x = '' AND empty_ok THEN NULL
    WHEN NOT regexp_full_match(x, '[+-]?[0-9]+')
        THEN printf('%s: expected an integer%s, found %s', name, CASE WHEN empty_ok THEN ' or empty' ELSE '' END, shown(x))
    WHEN TRY_CAST(x AS BIGINT) IS NULL
        THEN printf('%s: %s is out of range for int64 (expected -9223372036854775808 to 9223372036854775807)', name, shown(x))
    END;
-- The first problem among the integer fields xs named by names, or NULL.
CREATE OR REPLACE TEMP MACRO ints_problem(names, xs, empty_ok) AS
    list_filter(list_transform(xs, lambda x, i: int_problem(names[i], x, empty_ok)), lambda m: m IS NOT NULL)[1];
-- A NUL byte is no text: DuckDB keeps it inside the string, where it would become a category.
CREATE OR REPLACE TEMP MACRO nul_problem(p, names) AS list_transform(
    [list_position(list_transform(p, lambda x: contains(x, chr(0))), true)],
    lambda i: printf('%s: found a NUL byte (0x00) in %s; expected text without NUL bytes',
                     coalesce(names[i], printf('field %d', i)), shown(p[i])))[1];

CREATE OR REPLACE TEMP MACRO criteo_field_names() AS
    ['label'] || list_transform(range(1, 14), lambda k: 'I' || k) || list_transform(range(1, 27), lambda k: 'C' || k);

-- The label and integer checks run as one anchored regex on the start of the raw line (cheap);
-- only a failing line pays for finding which field is wrong, and 19-digit integers (which the
-- regex leaves out) are checked there exactly, so the fast path never has to.
CREATE OR REPLACE TEMP MACRO criteo_problem(line, p) AS CASE
    WHEN p IS NULL THEN 'empty line; expected 40 tab-separated fields (label, I1-I13, C1-C26)'
    WHEN contains(line, chr(0)) THEN nul_problem(p, criteo_field_names())
    WHEN len(p) <> 40 THEN printf('expected 40 tab-separated fields (label, I1-I13, C1-C26), found %d', len(p))
    WHEN regexp_matches(line, '^[01]\t([+-]?[0-9]{1,18})?(\t([+-]?[0-9]{1,18})?){12}\t') THEN NULL
    WHEN p[1] NOT IN ('0', '1') THEN printf('label: expected 0 or 1, found %s', shown(p[1]))
    ELSE ints_problem(criteo_field_names()[2:14], p[2:14], true)
    END;

CREATE OR REPLACE TEMP MACRO avazu_field_names() AS
    ['id', 'click', 'hour', 'C1', 'banner_pos', 'site_id', 'site_domain', 'site_category', 'app_id', 'app_domain',
     'app_category', 'device_id', 'device_ip', 'device_model', 'device_type', 'device_conn_type',
     'C14', 'C15', 'C16', 'C17', 'C18', 'C19', 'C20', 'C21'];
CREATE OR REPLACE TEMP MACRO avazu_int_fields() AS
    ['C1', 'banner_pos', 'device_type', 'device_conn_type', 'C14', 'C15', 'C16', 'C17', 'C18', 'C19', 'C20', 'C21'];
CREATE OR REPLACE TEMP MACRO avazu_ints(p) AS [p[4], p[5], p[15], p[16]] || p[17:24];
-- The fast regex admits no quote and no NUL, so a good line costs one match and one date parse;
-- everything after it runs for bad lines only. A quote is looked for before the field count:
-- a quoted comma splits one field in two, and "found 25 fields" would hide the cause.
CREATE OR REPLACE TEMP MACRO avazu_problem(line, p) AS CASE
    WHEN p IS NULL THEN 'empty line; expected 24 comma-separated fields (id, click, hour, C1, ..., C21)'
    WHEN len(p) = 24
         AND regexp_full_match(line, '[^,"\x00]*,[01],[0-9]{8},([+-]?[0-9]{1,18},){2}([^,"\x00]*,){9}([+-]?[0-9]{1,18},){9}[+-]?[0-9]{1,18}')
         AND try_strptime(p[3], '%y%m%d%H') IS NOT NULL THEN NULL
    WHEN contains(line, chr(0)) THEN nul_problem(p, avazu_field_names())
    WHEN contains(line, '"') THEN list_transform(
        [list_position(list_transform(p, lambda x: contains(x, '"')), true)],
        lambda i: printf('%s: found the quoted field %s; quoted fields are not part of the Avazu format (expected 24 comma-separated fields, none quoted)',
                         coalesce(avazu_field_names()[i], printf('field %d', i)), shown(regexp_extract(line, '"[^"]*"?'))))[1]
    WHEN len(p) <> 24 THEN printf('expected 24 comma-separated fields (id, click, hour, C1, ..., C21), found %d', len(p))
    WHEN p[2] NOT IN ('0', '1') THEN printf('click: expected 0 or 1, found %s', shown(p[2]))
    WHEN NOT regexp_full_match(p[3], '[0-9]{8}') OR try_strptime(p[3], '%y%m%d%H') IS NULL
        THEN printf('hour: expected YYMMDDHH, found %s', shown(p[3]))
    ELSE ints_problem(avazu_int_fields(), avazu_ints(p), false)
    END;

-- make-ipinyou-data train.log.txt (27 fields) / test.log.txt (29: + nclick, nconversation).
CREATE OR REPLACE TEMP MACRO ipinyou_problem(p, ncols) AS CASE
    WHEN p IS NULL THEN printf('empty line; expected %d tab-separated fields', ncols)
    WHEN len(p) <> ncols THEN printf('expected %d tab-separated fields like the first line (make-ipinyou-data: 27 in train.log.txt, 29 in test.log.txt), found %d', ncols, len(p))
    WHEN p[1] NOT IN ('0', '1') THEN printf('click: expected 0 or 1, found %s', shown(p[1]))
    WHEN p[2] NOT IN ('0', '1', '2', '3', '4', '5', '6') THEN printf('weekday: expected 0-6, found %s', shown(p[2]))
    WHEN NOT regexp_full_match(p[3], '[01][0-9]|2[0-3]') THEN printf('hour: expected 00-23, found %s', shown(p[3]))
    WHEN NOT is_int(p[21]) THEN int_problem('slotprice', p[21], false)
    END;

-- Raw contest logs imp.* / clk.* (24 fields, schema.txt of make-ipinyou-data).
CREATE OR REPLACE TEMP MACRO ipinyou_log_problem(p) AS CASE
    WHEN p IS NULL THEN 'empty line; expected 24 tab-separated fields (bidid, timestamp, ..., usertag)'
    WHEN len(p) <> 24 THEN printf('expected 24 tab-separated fields (bidid, timestamp, ..., usertag), found %d', len(p))
    WHEN NOT regexp_full_match(p[2], '[0-9]{17}') OR try_strptime(left(p[2], 8), '%Y%m%d') IS NULL
        THEN printf('timestamp: expected yyyyMMddHHmmssSSS, found %s', shown(p[2]))
    WHEN NOT is_int(p[18]) THEN int_problem('slotprice', p[18], false)
    END;

-- The NUL check needs the raw line, which ipinyou_problem / ipinyou_log_problem do not take.
CREATE OR REPLACE TEMP MACRO ipinyou_field_names() AS
    ['click', 'weekday', 'hour', 'bidid', 'timestamp', 'logtype', 'ipinyouid', 'useragent', 'IP', 'region', 'city',
     'adexchange', 'domain', 'url', 'urlid', 'slotid', 'slotwidth', 'slotheight', 'slotvisibility', 'slotformat',
     'slotprice', 'creative', 'bidprice', 'payprice', 'keypage', 'advertiser', 'usertag', 'nclick', 'nconversation'];
CREATE OR REPLACE TEMP MACRO ipinyou_log_field_names() AS ipinyou_field_names()[4:27];
CREATE OR REPLACE TEMP MACRO ipinyou_line_problem(line, p, ncols) AS CASE
    WHEN contains(line, chr(0)) THEN nul_problem(p, ipinyou_field_names()[1:ncols])
    ELSE ipinyou_problem(p, ncols) END;
CREATE OR REPLACE TEMP MACRO ipinyou_log_line_problem(line, p) AS CASE
    WHEN contains(line, chr(0)) THEN nul_problem(p, ipinyou_log_field_names())
    ELSE ipinyou_log_problem(p) END;
