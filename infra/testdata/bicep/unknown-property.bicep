// Broken: web.redirectUri (the property is redirectUris).
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
  web: {
    redirectUri: app.web.redirectUris
  }
}]
