"""The MySQL/MariaDB connector: connectorx reads, pymysql sessions, LOAD DATA LOCAL INFILE writes."""
