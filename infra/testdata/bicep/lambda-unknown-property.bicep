// Broken: an unknown property inside a map() lambda (appRole has no name).
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@v1.0' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
  appRoles: map(app.?appRoles ?? [], role => {
    id: role.id
    name: role.value
  })
}]
