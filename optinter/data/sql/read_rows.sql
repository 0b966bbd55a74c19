-- `table_rows` = `table_lines` as read (a layout without derived columns: criteo, format table).
CREATE OR REPLACE TEMP VIEW table_rows AS SELECT * FROM table_lines;
