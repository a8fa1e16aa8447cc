package report

import (
	"bytes"
	"encoding/csv"
	"html/template"
	"math"
	"net/url"
	"strconv"
)

// csvLink is the data behind one chart or table, offered as a CSV download
// from the page itself (a data: URL), so that a self-contained page needs
// no server for people to take its numbers into a spreadsheet. For is the
// data-for attribute: the chart's kind or the table's class.
type csvLink struct {
	For, Name string
	Href      template.URL
}

// newCSVLink returns the download of header and rows as file name. Numbers
// are formatted by the caller, in full (csvNum), not as the page rounds
// them.
func newCSVLink(forWhat, name string, header []string, rows [][]string) *csvLink {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows) // a bytes.Buffer does not fail
	// PathEscape leaves nothing that ends the attribute or the URL.
	return &csvLink{For: forWhat, Name: name, Href: template.URL("data:text/csv;charset=utf-8," + url.PathEscape(b.String()))}
}

// csvNum formats a number for a CSV download: shortest exact, and empty
// for NaN and infinities (no data).
func csvNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func csvInt(n int64) string { return strconv.FormatInt(n, 10) }
