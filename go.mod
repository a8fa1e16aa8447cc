module github.com/kmtrain/knowledgemodel

go 1.26.8

require (
	github.com/apache/beam/sdks/v2 v2.77.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
