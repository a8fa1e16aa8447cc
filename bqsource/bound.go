package bqsource

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// ParseBound reads a bound of a time_done window as users give it on the
// command line: a date (midnight UTC), an RFC 3339 or BigQuery time, or a
// date relative to now: "today", "yesterday" or "-<N>d" (midnight UTC N
// days before today). Relative bounds let a launch request that never
// changes, such as a scheduled one, train on fresh data: "--start=-90d
// --end=today" is the last 90 days up to yesterday. An empty string is no
// bound (the zero time).
func ParseBound(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case s == "today":
		return today, nil
	case s == "yesterday":
		return today.AddDate(0, 0, -1), nil
	case strings.HasPrefix(s, "-") && strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(s[1 : len(s)-1])
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q: want -<N>d, N days before today", s)
		}
		return today.AddDate(0, 0, -n), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := problemlogs.ParseTime(s)
	if err != nil {
		return t, fmt.Errorf("%q: want a date (2014-01-02), an RFC 3339 time, today, yesterday or -<N>d", s)
	}
	return t, nil
}
