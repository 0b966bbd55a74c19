-- Line 1 of a delimited text file of format table (plain or compressed), as one string: its
-- column names (optinter.data.table.header_names splits them). Params: $path, $compression.
SELECT line
FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = chr(1), header = false, quote = '',
              escape = '', auto_detect = false, compression = $compression)
LIMIT 1;
