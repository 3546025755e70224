@tool
extends EditorPlugin
## Shows, in the editor's top bar beside the run buttons and Movie Maker's, which AV1 encoder a
## recording will use. Its tooltip, and the window a click opens, list every encoder, whether
## it is usable and why not, so a user sees at a glance whether recording will use the GPU.

var _button: Button
var _dialog: AcceptDialog


func _enter_tree() -> void:
	var report := _report()
	_button = Button.new()
	_button.name = "MovieWriterAV1Encoders"
	_button.flat = true
	_button.focus_mode = Control.FOCUS_NONE
	_button.text = report[0]
	_button.tooltip_text = report[1]
	_dialog = AcceptDialog.new()
	_dialog.title = "AV1 encoders (MovieWriterAV1)"
	var text := RichTextLabel.new()
	text.bbcode_enabled = true
	text.fit_content = true
	text.custom_minimum_size = Vector2(560, 0)
	text.text = report[2]
	_dialog.add_child(text)
	_button.pressed.connect(_dialog.popup_centered)
	add_control_to_container(CONTAINER_TOOLBAR, _button)
	EditorInterface.get_base_control().add_child(_dialog)


func _exit_tree() -> void:
	remove_control_from_container(CONTAINER_TOOLBAR, _button)
	_button.queue_free()
	_dialog.queue_free()


## [the button's text, its tooltip (plain), the window's text (BBCode)]
func _report() -> PackedStringArray:
	if not ClassDB.class_exists("MovieWriterAV1"):
		var missing := "The MovieWriterAV1 library is not loaded: see the Output panel."
		return PackedStringArray(["AV1: not loaded", missing, "[color=red]%s[/color]" % missing])
	var caps: Dictionary = ClassDB.class_call_static("MovieWriterAV1", "get_encoding_capabilities")
	var chosen: String = caps["backends"][caps["auto_backend"]]["name"]
	var plain := PackedStringArray(["Movie Maker and AV1Recorder record with %s." % chosen])
	var rich := PackedStringArray(["[b]Recording uses:[/b] %s" % chosen])
	for id in caps["backends"]:
		var b: Dictionary = caps["backends"][id]
		if b["available"] and b["experimental"]:
			plain.append("experimental: %s (%s), used only when chosen by name" % [b["name"], b["version"]])
			rich.append("[color=yellow]experimental[/color] %s (%s): used only when chosen by name" % [b["name"], b["version"]])
		elif b["available"]:
			plain.append("available: %s (%s)" % [b["name"], b["version"]])
			rich.append("[color=green]available[/color] %s (%s)" % [b["name"], b["version"]])
		else:
			plain.append("unavailable: %s: %s" % [b["name"], b["reason"]])
			rich.append("[color=gray]unavailable[/color] %s: %s" % [b["name"], b["reason"]])
	return PackedStringArray(["AV1: " + chosen, "\n".join(plain), "\n".join(rich)])
