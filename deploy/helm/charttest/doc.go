// Package charttest checks the flagops Helm chart (deploy/helm/flagops)
// without a cluster: helm lint and helm template over a matrix of values,
// every rendered object decoded strictly into its Kubernetes API type, and
// the rendered server started from its own arguments and environment.
//
// It is a module of its own so that Helm and the Kubernetes API types stay
// out of the flagops module's dependencies. Run it from this directory:
//
//	go test ./...
//	go tool helm lint ../flagops --strict
package charttest
