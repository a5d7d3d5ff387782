terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
  }

  # Remote state in S3, locked with an S3 lock file (no DynamoDB lock table needed). The bucket
  # is created once by hand with versioning and encryption (docs/operations.md, bootstrap).
  backend "s3" {
    bucket       = "pricetrack-terraform-state-111111111111"
    key          = "dev/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = ["111111111111"]
  default_tags {
    tags = {
      Project     = "pricetrack"
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}
