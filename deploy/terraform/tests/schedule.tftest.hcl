# terraform -chdir=deploy/terraform init && terraform -chdir=deploy/terraform test
#
# Plans against a mocked google provider: no credentials, nothing created. It checks the request Cloud Scheduler
# will send, who may do what, and that the preconditions refuse what kmtrain would refuse at 3 am.

mock_provider "google" {}

variables {
  project  = "kmtrain-test"
  bucket   = "kmtrain-test-bucket"
  bq_table = "kmtrain-test.logs.problemlogs"
}

run "nightly_launch_request" {
  command = plan

  assert {
    condition     = google_cloud_scheduler_job.kmtrain.http_target[0].uri == "https://dataflow.googleapis.com/v1b3/projects/kmtrain-test/locations/us-central1/flexTemplates:launch"
    error_message = "The scheduler must POST to the regional flexTemplates:launch endpoint."
  }
  assert {
    condition     = google_cloud_scheduler_job.kmtrain.http_target[0].http_method == "POST"
    error_message = "flexTemplates:launch takes a POST."
  }
  assert {
    condition = (
      google_cloud_scheduler_job.kmtrain.http_target[0].oauth_token[0].scope == "https://www.googleapis.com/auth/cloud-platform" &&
      google_cloud_scheduler_job.kmtrain.http_target[0].oauth_token[0].service_account_email == "kmtrain-scheduler@kmtrain-test.iam.gserviceaccount.com"
    )
    error_message = "Google APIs need an OAuth token (not OIDC) of the scheduler account with the cloud-platform scope."
  }
  assert {
    condition = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.parameters == {
      bq_table          = "kmtrain-test.logs.problemlogs"
      start             = "-90d"
      end               = "today"
      bq_project        = "kmtrain-test"
      datastore_project = "kmtrain-test"
    }
    error_message = "Unexpected template parameters."
  }
  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.jobName == "kmtrain-scheduled"
    error_message = "Scheduled launches must use the fixed job name."
  }
  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.containerSpecGcsPath == "gs://kmtrain-test-bucket/templates/kmtrain.json"
    error_message = "Unexpected template spec path."
  }
  assert {
    condition = (
      jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.environment.serviceAccountEmail == "kmtrain-worker@kmtrain-test.iam.gserviceaccount.com" &&
      google_service_account.worker.account_id == "kmtrain-worker" && google_service_account.worker.project == "kmtrain-test"
    )
    error_message = "The launcher and the workers must run as the worker account."
  }
  assert {
    condition     = google_project_iam_member.scheduler_launch.role == "roles/dataflow.developer" && google_project_iam_member.scheduler_launch.member == "serviceAccount:kmtrain-scheduler@kmtrain-test.iam.gserviceaccount.com"
    error_message = "The scheduler account must be able to create jobs."
  }
  assert {
    condition     = google_service_account_iam_member.scheduler_acts_as_worker.role == "roles/iam.serviceAccountUser"
    error_message = "The scheduler account must be able to act as the worker account."
  }
  assert {
    condition = toset([for r in concat(
      [google_project_iam_member.worker_dataflow.role, google_project_iam_member.worker_datastore.role],
      [for m in google_project_iam_member.worker_bigquery_jobs : m.role],
      [for m in google_project_iam_member.worker_bigquery_data : m.role],
      [google_storage_bucket_iam_member.worker_objects.role, google_artifact_registry_repository_iam_member.worker_images.role],
      ) : r]) == toset([
      "roles/dataflow.worker", "roles/datastore.user", "roles/bigquery.jobUser", "roles/bigquery.readSessionUser",
      "roles/bigquery.dataViewer", "roles/storage.objectAdmin", "roles/artifactregistry.reader",
    ])
    error_message = "The worker account's roles changed."
  }
}

run "window_and_overrides" {
  command = plan

  variables {
    window_days = 30
    parameters  = { promote = "false", datastore_namespace = "staging" }
    bq_datasets = ["kmtrain-test.logs"]
    labels      = { team = "ml" }
    private_ips = true
  }

  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.parameters.start == "-30d"
    error_message = "window_days=30 must give start=-30d."
  }
  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.parameters.promote == "false"
    error_message = "parameters must reach the template."
  }
  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.environment.ipConfiguration == "WORKER_IP_PRIVATE"
    error_message = "private_ips must give ipConfiguration=WORKER_IP_PRIVATE."
  }
  assert {
    condition     = length(google_project_iam_member.worker_bigquery_data) == 0 && google_bigquery_dataset_iam_member.worker_bigquery_data["kmtrain-test.logs"].dataset_id == "logs"
    error_message = "With bq_datasets, dataViewer must be granted on the datasets, not the project."
  }
}

run "query_instead_of_table" {
  command = plan

  variables {
    bq_table   = null
    parameters = { bq_query = "SELECT user, time_done, exercise, problem_type, problem_number, correct FROM `kmtrain-test.logs.problemlogs`" }
  }

  assert {
    condition     = !contains(keys(jsondecode(base64decode(google_cloud_scheduler_job.kmtrain.http_target[0].body)).launchParameter.parameters), "start")
    error_message = "start/end apply to bq_table only: kmtrain refuses them with bq_query."
  }
}

run "unknown_parameter" {
  command = plan
  variables {
    parameters = { bq_endpoint = "http://localhost:9050" }
  }
  expect_failures = [google_cloud_scheduler_job.kmtrain]
}

run "bad_parameter_value" {
  command = plan
  variables {
    parameters = { start = "last week" }
  }
  expect_failures = [google_cloud_scheduler_job.kmtrain]
}

run "no_source" {
  command = plan
  variables {
    bq_table = null
  }
  expect_failures = [google_cloud_scheduler_job.kmtrain]
}

run "bad_job_name" {
  command = plan
  variables {
    job_name = "KMTrain_Nightly"
  }
  expect_failures = [var.job_name]
}
