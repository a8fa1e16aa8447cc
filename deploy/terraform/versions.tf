terraform {
  # Lifecycle preconditions need 1.2; checked with 1.13.
  required_version = ">= 1.3.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Written against the 8.0 schemas. Nothing used here changed between 7.x and 8.0 (see the provider's
      # version_8_upgrade guide), so "~> 7.0" works too for a state that is still on 7.x.
      version = "~> 8.0"
    }
  }

  # State: keep it in a bucket for anything shared, e.g.
  #   terraform init -backend-config="bucket=MY-STATE-BUCKET" -backend-config="prefix=kmtrain"
  # after adding `backend "gcs" {}` here.
}

# This directory is meant to be applied as it is (terraform -chdir=deploy/terraform apply -var-file=...). To use
# it as a child module instead, move this block to the caller.
provider "google" {
  project = var.project
  region  = var.region
}
