package main

import "testing"

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		i, n    int
		wantErr bool
	}{
		{"", 0, 1, false},
		{"0/4", 0, 4, false},
		{"3/4", 3, 4, false},
		{"4/4", 0, 1, true},
		{"-1/4", 0, 1, true},
		{"1/0", 0, 1, true},
		{"a/b", 0, 1, true},
		{"2", 0, 1, true},
	}
	for _, tt := range tests {
		i, n, err := parseShard(tt.in)
		if i != tt.i || n != tt.n || (err != nil) != tt.wantErr {
			t.Errorf("parseShard(%q) = %d, %d, %v; want %d, %d, error %v", tt.in, i, n, err, tt.i, tt.n, tt.wantErr)
		}
	}
}
