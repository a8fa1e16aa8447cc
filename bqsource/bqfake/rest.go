package bqfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"
)

var (
	jobsRE    = regexp.MustCompile(`^/projects/([^/]+)/jobs$`)
	jobRE     = regexp.MustCompile(`^/projects/([^/]+)/jobs/([^/]+)$`)
	queriesRE = regexp.MustCompile(`^/projects/([^/]+)/queries$`)
	resultsRE = regexp.MustCompile(`^/projects/([^/]+)/queries/([^/]+)$`)
	tableRE   = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$`)
	dataRE    = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/data$`)
	tablesRE  = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables$`)
	insertRE  = regexp.MustCompile(`^/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/insertAll$`)
)

// ErrorJSON is the body of a BigQuery error response: a status code, a reason
// such as "invalidQuery", "notFound" or "backendError", and a message.
func ErrorJSON(status int, reason, message string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    status,
		"message": message,
		"errors":  []map[string]any{{"message": message, "domain": "global", "reason": reason}},
		"status":  http.StatusText(status),
	}})
	return b
}

// ServeHTTP serves the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && jobsRE.MatchString(path):
		s.call("jobs.insert")
		s.insert(w, r, jobsRE.FindStringSubmatch(path)[1])
	case r.Method == http.MethodPost && queriesRE.MatchString(path):
		s.call("jobs.query")
		writeError(w, &apiError{http.StatusNotImplemented, "notImplemented", "bqfake does not implement jobs.query"})
	case r.Method == http.MethodGet && jobRE.MatchString(path):
		s.call("jobs.get")
		m := jobRE.FindStringSubmatch(path)
		s.mu.Lock()
		j := s.jobs[m[1]+"/"+m[2]]
		s.mu.Unlock()
		if j == nil {
			writeError(w, &apiError{http.StatusNotFound, "notFound", "Not found: Job " + m[1] + ":" + m[2]})
			return
		}
		writeJSON(w, s.jobResource(j))
	case r.Method == http.MethodGet && resultsRE.MatchString(path):
		s.call("jobs.getQueryResults")
		m := resultsRE.FindStringSubmatch(path)
		s.mu.Lock()
		j := s.jobs[m[1]+"/"+m[2]]
		s.mu.Unlock()
		if j == nil {
			writeError(w, &apiError{http.StatusNotFound, "notFound", "Not found: Job " + m[1] + ":" + m[2]})
			return
		}
		if j.errReason != "" {
			writeError(w, &apiError{http.StatusBadRequest, j.errReason, j.errMessage})
			return
		}
		if n := q.Get("maxResults"); n != "0" {
			// The client only waits through getQueryResults; rows are read
			// from the destination table.
			writeError(w, &apiError{http.StatusNotImplemented, "notImplemented", "bqfake serves jobs.getQueryResults only with maxResults=0"})
			return
		}
		writeJSON(w, &bq.GetQueryResultsResponse{
			Kind:         "bigquery#getQueryResultsResponse",
			JobComplete:  true,
			JobReference: &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location},
			Schema:       restSchema(j.result.schema),
			TotalRows:    uint64(len(j.result.rows)),
		})
	case r.Method == http.MethodGet && tableRE.MatchString(path):
		s.call("tables.get")
		m := tableRE.FindStringSubmatch(path)
		id := m[1] + "." + m[2] + "." + m[3]
		s.mu.Lock()
		s.gets = append(s.gets, id)
		tb := s.tables[id]
		s.mu.Unlock()
		if tb == nil {
			writeError(w, &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3])})
			return
		}
		writeJSON(w, &bq.Table{
			Kind:           "bigquery#table",
			Id:             m[1] + ":" + m[2] + "." + m[3],
			TableReference: &bq.TableReference{ProjectId: m[1], DatasetId: m[2], TableId: m[3]},
			Schema:         restSchema(tb.schema),
			NumRows:        uint64(len(tb.rows)),
			Type:           "TABLE",
		})
	case r.Method == http.MethodGet && dataRE.MatchString(path):
		s.call("tabledata.list")
		s.list(w, r, dataRE.FindStringSubmatch(path))
	case r.Method == http.MethodPost && tablesRE.MatchString(path):
		s.call("tables.insert")
		s.createTable(w, r, tablesRE.FindStringSubmatch(path))
	case r.Method == http.MethodPost && insertRE.MatchString(path):
		s.call("tabledata.insertAll")
		s.insertAll(w, r, insertRE.FindStringSubmatch(path))
	default:
		s.call("unknown")
		s.errorf("bqfake: unexpected request %s %s", r.Method, r.URL)
		writeError(w, &apiError{http.StatusNotFound, "notFound", "bqfake: no such method: " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) insert(w http.ResponseWriter, r *http.Request, project string) {
	var in bq.Job
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "invalid", "bqfake: bad job: " + err.Error()})
		return
	}
	var qc *bq.JobConfigurationQuery
	if in.Configuration != nil {
		qc = in.Configuration.Query
	}
	if qc == nil {
		writeError(w, &apiError{http.StatusBadRequest, "invalid", "bqfake: not a query job"})
		return
	}
	req := QueryRequest{Project: project, SQL: qc.Query, UseLegacySQL: qc.UseLegacySql != nil && *qc.UseLegacySql}
	if ref := in.JobReference; ref != nil {
		req.JobID, req.Location = ref.JobId, ref.Location
	}
	for _, p := range qc.QueryParameters {
		var typ, val string
		if p.ParameterType != nil {
			typ = p.ParameterType.Type
		}
		if p.ParameterValue != nil {
			val = p.ParameterValue.Value
		}
		req.Params = append(req.Params, Param{Name: p.Name, Type: typ, Value: val})
	}
	if d := qc.DestinationTable; d != nil {
		req.Destination = d.ProjectId + "." + d.DatasetId + "." + d.TableId
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, req)
	if len(s.insertFaults) > 0 {
		f := s.insertFaults[0]
		s.insertFaults = s.insertFaults[1:]
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(f.status)
		w.Write(f.body)
		return
	}
	if req.UseLegacySQL {
		writeError(w, invalidQuery("bqfake: legacy SQL"))
		return
	}
	if req.JobID == "" {
		s.seq++
		req.JobID = fmt.Sprintf("job_%d", s.seq)
	}
	if req.Location == "" {
		req.Location = "US"
	}
	j := &job{project: project, id: req.JobID, location: req.Location, request: req}
	if len(s.jobFaults) > 0 {
		j.errReason, j.errMessage = s.jobFaults[0][0], s.jobFaults[0][1]
		s.jobFaults = s.jobFaults[1:]
		j.result = &table{}
	} else {
		res, err := s.evaluate(req.SQL, req.Params)
		if err != nil {
			writeError(w, err)
			return
		}
		dst := req.Destination
		if dst == "" {
			s.seq++
			dst = fmt.Sprintf("%s._bqfake_anon.anon_%d", project, s.seq)
		}
		j.result = &table{id: dst, schema: res.schema, rows: res.rows}
		s.tables[dst] = j.result
	}
	s.jobs[project+"/"+j.id] = j
	writeJSON(w, s.jobResource(j))
}

// jobResource is a job as jobs.insert and jobs.get return it: done.
func (s *Server) jobResource(j *job) *bq.Job {
	useLegacy := false
	qc := &bq.JobConfigurationQuery{Query: j.request.SQL, UseLegacySql: &useLegacy}
	if j.result.id != "" {
		parts := strings.SplitN(j.result.id, ".", 3)
		qc.DestinationTable = &bq.TableReference{ProjectId: parts[0], DatasetId: parts[1], TableId: parts[2]}
	}
	ms := s.start.UnixMilli()
	out := &bq.Job{
		Kind:          "bigquery#job",
		Id:            j.project + ":" + j.location + "." + j.id,
		JobReference:  &bq.JobReference{ProjectId: j.project, JobId: j.id, Location: j.location},
		Configuration: &bq.JobConfiguration{JobType: "QUERY", Query: qc},
		Status:        &bq.JobStatus{State: "DONE"},
		Statistics: &bq.JobStatistics{
			CreationTime: ms, StartTime: ms, EndTime: ms,
			Query: &bq.JobStatistics2{StatementType: "SELECT"},
		},
	}
	if j.errReason != "" {
		e := &bq.ErrorProto{Reason: j.errReason, Message: j.errMessage}
		out.Status.ErrorResult = e
		out.Status.Errors = []*bq.ErrorProto{e}
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, m []string) {
	q := r.URL.Query()
	id := m[1] + "." + m[2] + "." + m[3]
	req := ListRequest{
		Table:             id,
		PageToken:         q.Get("pageToken"),
		StartIndex:        q.Get("startIndex"),
		UseInt64Timestamp: q.Get("formatOptions.useInt64Timestamp") == "true",
	}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, &apiError{http.StatusBadRequest, "invalid", "Invalid maxResults " + v})
			return
		}
		req.MaxResults = n
	}
	s.mu.Lock()
	s.lists = append(s.lists, req)
	tb := s.tables[id]
	pageSize := s.pageSize
	s.mu.Unlock()
	if tb == nil {
		writeError(w, &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3])})
		return
	}
	start := 0
	switch {
	case req.PageToken != "":
		n, err := strconv.Atoi(strings.TrimPrefix(req.PageToken, "row-"))
		if err != nil || !strings.HasPrefix(req.PageToken, "row-") || n < 0 || n > len(tb.rows) {
			writeError(w, &apiError{http.StatusBadRequest, "invalid", "Invalid page token " + req.PageToken})
			return
		}
		start = n
	case req.StartIndex != "":
		n, err := strconv.Atoi(req.StartIndex)
		if err != nil || n < 0 {
			writeError(w, &apiError{http.StatusBadRequest, "invalid", "Invalid startIndex " + req.StartIndex})
			return
		}
		start = min(n, len(tb.rows))
	}
	end := len(tb.rows)
	if req.MaxResults > 0 {
		end = min(end, start+int(req.MaxResults))
	}
	if pageSize > 0 {
		end = min(end, start+pageSize)
	}
	out := &bq.TableDataList{Kind: "bigquery#tableDataList", TotalRows: int64(len(tb.rows))}
	if end < len(tb.rows) {
		out.PageToken = fmt.Sprintf("row-%d", end)
	}
	for _, row := range tb.rows[start:end] {
		tr := &bq.TableRow{}
		for i, v := range row {
			tr.F = append(tr.F, restCell(v, tb.schema[i].Type, req.UseInt64Timestamp))
		}
		out.Rows = append(out.Rows, tr)
	}
	writeJSON(w, out)
}

// restCell is a value in tabledata.list's JSON form.
func restCell(v any, typ string, int64Timestamp bool) *bq.TableCell {
	if v == nil {
		return &bq.TableCell{NullFields: []string{"V"}}
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case int64:
		s = strconv.FormatInt(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		s = strconv.FormatBool(v)
	case time.Time:
		if int64Timestamp {
			s = strconv.FormatInt(v.UnixMicro(), 10)
		} else {
			s = strconv.FormatFloat(float64(v.UnixMicro())/1e6, 'E', -1, 64)
		}
	case civil.DateTime:
		s = v.String()
	}
	return &bq.TableCell{V: s}
}

// restSchema is a schema as the REST API gives it, with the legacy type
// names the client expects.
func restSchema(fields []Field) *bq.TableSchema {
	out := &bq.TableSchema{}
	for _, f := range fields {
		typ := f.Type
		switch typ {
		case Int64:
			typ = "INTEGER"
		case Float64:
			typ = "FLOAT"
		case Bool:
			typ = "BOOLEAN"
		}
		out.Fields = append(out.Fields, &bq.TableFieldSchema{Name: f.Name, Type: typ, Mode: "NULLABLE"})
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{http.StatusInternalServerError, "internalError", err.Error()}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.status)
	w.Write(ErrorJSON(e.status, e.reason, e.message))
}

// createTable serves tables.insert: an empty table with the request's
// schema; one that exists is a 409 duplicate, as BigQuery answers.
func (s *Server) createTable(w http.ResponseWriter, r *http.Request, m []string) {
	var in bq.Table
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TableReference == nil {
		writeError(w, &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("bqfake: bad table: %v", err)})
		return
	}
	id := m[1] + "." + m[2] + "." + in.TableReference.TableId
	var schema []Field
	if in.Schema != nil {
		for _, f := range in.Schema.Fields {
			schema = append(schema, Field{Name: f.Name, Type: f.Type})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables[id] != nil {
		writeError(w, &apiError{http.StatusConflict, "duplicate", "Already Exists: Table " + id})
		return
	}
	s.tables[id] = &table{id: id, schema: schema}
	writeJSON(w, &bq.Table{Kind: "bigquery#table", TableReference: in.TableReference, Schema: in.Schema, Type: "TABLE"})
}

// insertAll serves tabledata.insertAll, the streaming insert: each row is
// kept as the JSON object it came as, once per insertId (BigQuery's
// best-effort de-duplication); a row with a field the schema lacks fails
// alone, as BigQuery reports it.
func (s *Server) insertAll(w http.ResponseWriter, r *http.Request, m []string) {
	var in bq.TableDataInsertAllRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "invalid", "bqfake: bad insertAll: " + err.Error()})
		return
	}
	id := m[1] + "." + m[2] + "." + m[3]
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.tables[id]
	if tb == nil {
		writeError(w, &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3])})
		return
	}
	known := map[string]bool{}
	for _, f := range tb.schema {
		known[f.Name] = true
	}
	if s.inserted == nil {
		s.inserted = map[string][]map[string]any{}
		s.insertIDs = map[string]bool{}
	}
	resp := &bq.TableDataInsertAllResponse{Kind: "bigquery#tableDataInsertAllResponse"}
	for i, row := range in.Rows {
		var obj map[string]any
		if err := json.Unmarshal(mustJSON(row.Json), &obj); err != nil {
			writeError(w, &apiError{http.StatusBadRequest, "invalid", "bqfake: bad row: " + err.Error()})
			return
		}
		bad := ""
		for k := range obj {
			if !known[k] {
				bad = k
			}
		}
		if bad != "" {
			resp.InsertErrors = append(resp.InsertErrors, &bq.TableDataInsertAllResponseInsertErrors{Index: int64(i),
				Errors: []*bq.ErrorProto{{Reason: "invalid", Location: bad, Message: "no such field: " + bad}}})
			continue
		}
		if row.InsertId != "" {
			if s.insertIDs[id+"/"+row.InsertId] {
				continue
			}
			s.insertIDs[id+"/"+row.InsertId] = true
		}
		s.inserted[id] = append(s.inserted[id], obj)
	}
	writeJSON(w, resp)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
