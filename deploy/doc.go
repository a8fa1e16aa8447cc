// Package deploy holds the files that package kmtrain as a Dataflow Flex
// Template and launch it on a schedule; it has no Go code of its own.
//
//   - Dockerfile: the template image, a static linux/amd64 kmtrain on Google's
//     Go Flex Template launcher base image. The same binary is the Dataflow
//     worker binary.
//   - metadata.json: the template's parameters, one per user-facing kmtrain
//     flag, with the regexes Dataflow checks values against at launch.
//   - Makefile: build and push the image, build the template spec, run it.
//   - terraform/: service accounts, IAM and the Cloud Scheduler job that
//     launches the template every night.
//
// The tests in this package check those files without a cloud account:
// the Dockerfile's build and pinned base image, metadata.json's shape and
// regexes (against tables of good and bad values), and the Terraform (the
// launch request the scheduler sends, the roles granted, every variable
// used being declared). cmd/kmtrain's metadata_test.go checks that
// metadata.json and kmtrain's flags agree.
package deploy
