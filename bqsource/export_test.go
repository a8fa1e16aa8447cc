package bqsource

import "time"

// SetResume sets how ReadStream resumes, for a test; the returned function
// restores it.
func SetResume(n int, pause time.Duration) (restore func()) {
	n0, p0, m0 := maxResumes, resumePause, maxResumePause
	maxResumes, resumePause, maxResumePause = n, pause, pause
	return func() { maxResumes, resumePause, maxResumePause = n0, p0, m0 }
}
