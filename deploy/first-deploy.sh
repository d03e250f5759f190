#!/usr/bin/env bash
# Deploys every SecureCart service into a Copilot environment, in the order their topics need
# (docs/deploy.md, "First deployment"):
#
#   deploy/first-deploy.sh prod
#
# A worker can only subscribe to a topic that exists, and a topic is created by its publisher's deployment:
# catalog and checkout first, then the workers. The orders-worker subscribes to fulfillment's topic and fulfillment
# to the orders-worker's, so while the orders-worker's topic does not exist yet, fulfillment goes out once without
# its subscription (bootstrap/fulfillment.manifest.yml, swapped in and back), then again in full. Once that topic
# exists the script deploys everything as it is, so it is safe to run again (after a failure, or for a plain
# redeploy of every service); a single service is `copilot svc deploy --name <service> --env <env>` from deploy/.
#
# Needs copilot and the AWS CLI, both with the account's credentials and region (AWS_PROFILE, AWS_REGION), Docker
# to build the images, and SECURECART_DOMAIN: the host name the web services answer on (their http.alias).
set -euo pipefail

env_name=${1:?usage: first-deploy.sh <environment>}
: "${SECURECART_DOMAIN:?set SECURECART_DOMAIN to the API's host name, covered by the environment's certificate (e.g. api.shop.example)}"
cd "$(dirname "$0")"
app=$(sed -n 's/^application: *//p' copilot/.workspace)

deploy() {
  echo "==> $1"
  copilot deploy --init-wkld --deploy-env=false --name "$1" --env "$env_name"
}

topic_exists() {
  aws sns list-topics --query 'Topics[].TopicArn' --output text | tr -s '[:space:]' '\n' | grep -q ":$1\$"
}

deploy catalog
deploy checkout
deploy orders

if topic_exists "$app-$env_name-orders-worker-orderEvents"; then
  deploy orders-worker
  deploy fulfillment
else
  echo "==> fulfillment, without its subscription (the orders-worker's topic does not exist yet)"
  saved=$(mktemp -d)
  cp copilot/fulfillment/manifest.yml "$saved/manifest.yml"
  mv copilot/fulfillment/overrides "$saved/overrides" # its patches name the subscription it does not have yet
  restore() {
    cp "$saved/manifest.yml" copilot/fulfillment/manifest.yml
    if [ -d "$saved/overrides" ]; then mv "$saved/overrides" copilot/fulfillment/overrides; fi
    rm -rf "$saved"
  }
  trap restore EXIT
  cp bootstrap/fulfillment.manifest.yml copilot/fulfillment/manifest.yml
  deploy fulfillment
  restore
  trap - EXIT

  deploy orders-worker
  deploy fulfillment
fi
deploy notifications
echo "==> every service is deployed in $env_name"
