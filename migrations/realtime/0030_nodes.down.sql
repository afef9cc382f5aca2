DROP TABLE IF EXISTS realtime.node_replies;
DROP TABLE IF EXISTS realtime.nodes;
