// A program imports MagmaDevices and gets the whole public API with the locator (the
// swift-nio umbrella pattern): `import MagmaDevices`, then `Device.open(.embedded)`.
@_exported import Magma
