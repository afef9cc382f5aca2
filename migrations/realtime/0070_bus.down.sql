DROP TABLE IF EXISTS realtime.bus_state;
