package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// StatusChange is one entry of a version's history: a change of its status
// (From "" when the version was first written), or a request that left it
// as it was and says why (From == To: a promotion refused because the
// current version had changed).
type StatusChange struct {
	Time time.Time `json:"time"`
	From string    `json:"from,omitempty"`
	To   string    `json:"to"`
	By   string    `json:"by,omitempty"`  // who or what made it: Store.By
	Why  string    `json:"why,omitempty"` // the gate's reason, the operator's words
}

// History bounds: a version entity must stay well under Datastore's 1 MiB,
// so a version keeps its newest MaxHistory changes, each By and Why cut to
// maxHistoryText bytes: at most about 20 KiB.
const (
	MaxHistory     = 20
	maxHistoryText = 480
)

// defaultBy is what Open sets Store.By to: the program and the user.
func defaultBy() string {
	by := filepath.Base(os.Args[0])
	if u := os.Getenv("USER"); u != "" {
		by += " (" + u + ")"
	}
	return by
}

// history decodes the entity's history; an entity written before histories
// were kept has none.
func (e *versionEntity) history() ([]StatusChange, error) {
	if e.History == "" {
		return nil, nil
	}
	var h []StatusChange
	if err := json.Unmarshal([]byte(e.History), &h); err != nil {
		return nil, fmt.Errorf("version %s: history: %v", e.Version, err)
	}
	return h, nil
}

// record appends a change to the entity's history, keeping the newest
// MaxHistory. A change by the same hand for the same reason to the status
// the newest one reached, from where it started or from that status, is
// that one again, as when a transaction whose commit succeeded but whose
// reply was lost is retried (a retried Reject finds the version rejected
// already): it is not recorded twice.
func (e *versionEntity) record(c StatusChange) error {
	h, err := e.history()
	if err != nil {
		return err
	}
	c.By, c.Why = cut(c.By), cut(c.Why)
	if n := len(h); n > 0 {
		last := h[n-1]
		if last.To == c.To && last.By == c.By && last.Why == c.Why && (c.From == last.From || c.From == c.To) {
			return nil
		}
	}
	h = append(h, c)
	if len(h) > MaxHistory {
		h = h[len(h)-MaxHistory:]
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	e.History = string(b)
	return nil
}

// cut shortens s to at most maxHistoryText bytes, on a rune boundary,
// marking the cut with "...".
func cut(s string) string {
	if len(s) <= maxHistoryText {
		return s
	}
	n := maxHistoryText - len("...")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
