package problemlogs

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// AppendJSON appends l as one JSON object in the JSON-lines format, with the
// DefaultColumns names and time_done in RFC 3339 (UTC, to the nanosecond),
// without a newline: what JSONParser reads back as l, and the body of a
// ProblemLog's Pub/Sub message.
func AppendJSON(dst []byte, l features.ProblemLog) []byte {
	dst = append(dst, `{"user":`...)
	dst = appendString(dst, l.User)
	dst = append(dst, `,"time_done":"`...)
	dst = l.TimeDone.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","exercise":`...)
	dst = appendString(dst, l.Exercise)
	dst = append(dst, `,"problem_type":`...)
	dst = appendString(dst, l.ProblemType)
	dst = append(dst, `,"problem_number":`...)
	dst = strconv.AppendInt(dst, int64(l.ProblemNumber), 10)
	dst = append(dst, `,"correct":`...)
	dst = strconv.AppendBool(dst, l.Correct)
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
