-- Macros of the pre-split (reczoo/BARS) readers, loaded by optinter.data.presplit on top of
-- macros.sql before a BARS CSV is read or explained.

-- An integer field of a BARS Criteo CSV: empty, an integer, or an integer-valued decimal.
CREATE OR REPLACE TEMP MACRO csv_int_problem(name, x) AS CASE
    WHEN x = '' THEN NULL
    WHEN NOT regexp_full_match(x, '[+-]?[0-9]+(\.0*)?')
        THEN printf('%s: expected an integer (or an integer-valued decimal like 5.0) or empty, found %s', name, shown(x))
    WHEN TRY_CAST(regexp_replace(x, '\.0*$', '') AS BIGINT) IS NULL
        THEN printf('%s: %s is out of range for int64 (expected -9223372036854775808 to 9223372036854775807)', name, shown(x))
    END;

-- Criteo_x4 line (p = the line split on ','): NULL when good, else what is wrong with it.
CREATE OR REPLACE TEMP MACRO criteo_csv_problem(line, p) AS CASE
    WHEN p IS NULL THEN 'empty line; expected 40 comma-separated fields (Label, I1-I13, C1-C26)'
    WHEN len(p) = 40
         AND regexp_matches(line, '^[01](,([+-]?[0-9]{1,18}(\.0*)?)?){13},[^"\x00]*$') THEN NULL
    WHEN contains(line, chr(0)) THEN nul_problem(p, criteo_field_names())
    WHEN contains(line, '"') THEN printf('found the quoted field %s; quoted fields are not part of the Criteo_x4 CSV layout (expected 40 comma-separated fields, none quoted)', shown(regexp_extract(line, '"[^"]*"?')))
    WHEN len(p) <> 40 THEN printf('expected 40 comma-separated fields (Label, I1-I13, C1-C26), found %d', len(p))
    WHEN p[1] NOT IN ('0', '1') THEN printf('Label: expected 0 or 1, found %s', shown(p[1]))
    ELSE list_filter(list_transform(p[2:14], lambda x, i: csv_int_problem('I' || i, x)), lambda m: m IS NOT NULL)[1]
    END;
