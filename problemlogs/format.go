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

// bom is the UTF-8 byte order mark some tools write at the start of a file.
var bom = []byte("\xef\xbb\xbf")

// DetectFormat picks the format from the file name (.csv, .json, .jsonl,
// .ndjson, each optionally .gz), else from the first line: a line that starts
// with '{' (after a byte order mark) is JSON.
func DetectFormat(name string, firstLine []byte) Format {
	n := strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch {
	case strings.HasSuffix(n, ".csv"):
		return CSV
	case strings.HasSuffix(n, ".json"), strings.HasSuffix(n, ".jsonl"), strings.HasSuffix(n, ".ndjson"):
		return JSON
	}
	if bytes.HasPrefix(bytes.TrimSpace(bytes.TrimPrefix(firstLine, bom)), []byte("{")) {
		return JSON
	}
	return CSV
}
