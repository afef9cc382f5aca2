package server

import "testing"

func TestPoolShares(t *testing.T) {
	for _, tt := range []struct {
		total, main, connect, health int32
	}{
		{1, 1, 1, 1}, // each pool has at least one connection
		{2, 1, 1, 1},
		{3, 1, 1, 1},
		{4, 1, 2, 1},
		{8, 3, 4, 1}, // the default on 2 CPUs
		{16, 7, 7, 2},
		{100, 49, 49, 2},
	} {
		main, connect, health := poolShares(tt.total)
		if main != tt.main || connect != tt.connect || health != tt.health {
			t.Errorf("poolShares(%d) = %d, %d, %d; want %d, %d, %d", tt.total, main, connect, health, tt.main, tt.connect, tt.health)
		}
		if tt.total >= 3 && main+connect+health != tt.total {
			t.Errorf("poolShares(%d) shares out %d connections", tt.total, main+connect+health)
		}
	}
}
