// Broken: appId is read-only on applications (the tenant assigns it).
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  appId: app.appId
  displayName: app.displayName
}]
