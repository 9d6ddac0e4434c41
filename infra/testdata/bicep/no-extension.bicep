// Broken: no extension declaration, so Bicep knows no Microsoft.Graph types.

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
}]
