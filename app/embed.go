// Package app holds the reference workload Slipway deploys and exposes the production
// artefacts the infrastructure ships to the host.
package app

import _ "embed"

// ComposeFile is app/compose.yaml, the production compose project. The release renders its
// ${VARIABLES} (image digests, data directory, log groups, region) on the host.
//
//go:embed compose.yaml
var ComposeFile []byte

// ProxyTemplate is the nginx template baked into the proxy image
// (/etc/nginx/templates/default.conf.template), for reference and checks by the infra code.
//
//go:embed proxy/templates/default.conf.template
var ProxyTemplate []byte
