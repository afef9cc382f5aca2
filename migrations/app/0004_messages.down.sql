DROP TABLE IF EXISTS message_reads, messages;
