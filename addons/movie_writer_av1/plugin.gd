@tool
extends EditorPlugin
## Shows, in a dock, which AV1 encoders MovieWriterAV1 can use on this machine and why the
## others are unavailable, so a user sees at a glance whether recording will use the GPU.

var _dock: RichTextLabel


func _enter_tree() -> void:
	_dock = RichTextLabel.new()
	_dock.name = "AV1 Encoders"
	_dock.bbcode_enabled = true
	_dock.fit_content = true
	_dock.text = _report()
	add_control_to_dock(DOCK_SLOT_RIGHT_UL, _dock)


func _exit_tree() -> void:
	remove_control_from_docks(_dock)
	_dock.queue_free()


func _report() -> String:
	if not ClassDB.class_exists("MovieWriterAV1"):
		return "[color=red]The MovieWriterAV1 library is not loaded: build it with ./dev build.[/color]"
	var caps: Dictionary = ClassDB.class_call_static("MovieWriterAV1", "get_encoding_capabilities")
	var lines := PackedStringArray(["[b]Recording uses:[/b] %s" % caps["backends"][caps["auto_backend"]]["name"]])
	for id in caps["backends"]:
		var b: Dictionary = caps["backends"][id]
		if b["available"] and b["experimental"]:
			lines.append("[color=yellow]experimental[/color] %s (%s): used only when chosen by name" % [b["name"], b["version"]])
		elif b["available"]:
			lines.append("[color=green]available[/color] %s (%s)" % [b["name"], b["version"]])
		else:
			lines.append("[color=gray]unavailable[/color] %s: %s" % [b["name"], b["reason"]])
	return "\n".join(lines)
