// Broken: declares the extension and loads the manifest, but no application.
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

output count int = length(manifest.applications)
