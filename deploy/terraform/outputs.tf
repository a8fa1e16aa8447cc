output "worker_service_account_email" {
  description = "The launcher's and workers' service account: deploy/Makefile's SERVICE_ACCOUNT."
  value       = google_service_account.worker.email
}

output "scheduler_service_account_email" {
  description = "The account Cloud Scheduler launches the template as."
  value       = google_service_account.scheduler.email
}

output "image_repository" {
  description = "Where deploy/Makefile's image target pushes: IMAGE=<this>/kmtrain:TAG."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${var.artifact_repository}"
}

output "template_gcs_path" {
  description = "The template spec the schedule launches: deploy/Makefile's TEMPLATE."
  value       = local.template_gcs_path
}

output "scheduler_job" {
  description = "The Cloud Scheduler job; `gcloud scheduler jobs run` it to launch once now."
  value       = google_cloud_scheduler_job.kmtrain.id
}

output "launch_request" {
  description = "The flexTemplates:launch request body the scheduler sends (decoded)."
  value       = local.launch_request
}
