// Package envconfig turns environment variables into entrakit's settings.
//
// Its one job is the mapping from azidentity's variable names (AZURE_*) and
// entrakit's own (ENTRAKIT_*) to an [entra.Config] plus the few process
// settings the binaries share, reporting every problem at once under the
// variable's name. Only cmd/ calls it; library packages take plain structs.
package envconfig
