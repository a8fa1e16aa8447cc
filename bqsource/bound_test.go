package bqsource

import (
	"testing"
	"time"
)

func TestParseBound(t *testing.T) {
	now := time.Date(2026, 11, 26, 13, 5, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		in   string
		want string // RFC 3339, or "" for the zero time, or "error"
	}{
		{"", ""},
		{"2014-01-02", "2014-01-02T00:00:00Z"},
		{"2014-01-02T03:04:05+01:00", "2014-01-02T02:04:05Z"},
		{"2014-01-02 03:04:05 UTC", "2014-01-02T03:04:05Z"},
		{"today", "2026-11-26T00:00:00Z"},
		{"yesterday", "2026-11-25T00:00:00Z"},
		{"-90d", "2026-08-28T00:00:00Z"},
		{"-0d", "2026-11-26T00:00:00Z"},
		{"-xd", "error"},
		{"last week", "error"},
		{"2014-13-01", "error"},
	}
	for _, tt := range tests {
		got, err := ParseBound(tt.in, now)
		switch {
		case tt.want == "error":
			if err == nil {
				t.Errorf("ParseBound(%q) = %v, want an error", tt.in, got)
			}
		case err != nil:
			t.Errorf("ParseBound(%q): %v", tt.in, err)
		case tt.want == "" && !got.IsZero(), tt.want != "" && got.Format(time.RFC3339) != tt.want:
			t.Errorf("ParseBound(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
}
