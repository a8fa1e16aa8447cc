package problemlogs

import (
	"bytes"
	"strings"
)

// Format is how a file holds ProblemLogs.
type Format int

const (
	CSV  Format = iota // comma-separated with a header row
	JSON               // newline-delimited JSON objects
)

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "csv"
}

// DetectFormat picks the format from the file name (.csv, .json, .jsonl,
// .ndjson, each optionally .gz), else from the first line: a line that starts
// with '{' is JSON.
func DetectFormat(name string, firstLine []byte) Format {
	n := strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch {
	case strings.HasSuffix(n, ".csv"):
		return CSV
	case strings.HasSuffix(n, ".json"), strings.HasSuffix(n, ".jsonl"), strings.HasSuffix(n, ".ndjson"):
		return JSON
	}
	if bytes.HasPrefix(bytes.TrimSpace(firstLine), []byte("{")) {
		return JSON
	}
	return CSV
}
