// Broken: the registrations come from another file than the manifest.
extension microsoftGraphV1

var manifest = loadJsonContent('apps.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
}]
