extends Node2D
## A seekable cutscene: everything on screen and in the speakers is a function of the frame
## number, so a render-range chunk that starts at any frame shows exactly what one long
## recording shows there. This is the contract a scene must meet to be rendered in chunks
## (`-- --movie-range=START:END --movie-preroll=N`, see the README's "Render a frame range").
##
## At startup it asks MovieWriterAV1 for the range and jumps to `seek_frame` (START − pre-roll),
## the first frame Movie Maker renders. Run it at --fixed-fps 60: its timeline is in 60 fps frames.

const FPS := 60
const MIX_RATE := 48000
const TONE_HZ := 440.0
const SIZE := Vector2(640, 360)
## The tone's loop: whole periods of 440 Hz, and long, because Godot's looping WAV playback can
## be one sample off at its loop point when it was started mid-stream (README, "Render a frame
## range"); a 4 s loop keeps that out of short cutscenes.
const TONE_SECONDS := 4

var _frame := 0
var _sky: ColorRect
var _world: Node2D
var _boxes: Array[ColorRect] = []
var _counter: Label
var _tone: AudioStreamPlayer


func _ready() -> void:
	_sky = ColorRect.new()
	_sky.size = SIZE
	add_child(_sky)
	_world = Node2D.new()
	add_child(_world)
	for i in 12:
		var box := ColorRect.new()
		box.size = Vector2(40, 40)
		box.pivot_offset = box.size / 2
		box.color = Color.from_hsv(i / 12.0, 0.8, 1.0)
		_world.add_child(box)
		_boxes.append(box)
	_counter = Label.new()
	_counter.position = Vector2(24, 16)
	_counter.add_theme_font_size_override("font_size", 72)
	_counter.add_theme_color_override("font_outline_color", Color.BLACK)
	_counter.add_theme_constant_override("outline_size", 12)
	add_child(_counter)
	_frame = _start_frame()
	_tone = AudioStreamPlayer.new()
	_tone.stream = _tone_stream()
	add_child(_tone)
	# The tone's phase follows the absolute sample index: the stream is whole seconds (whole
	# periods of 440 Hz), so starting it at this frame's sample continues it seamlessly. Half a
	# sample keeps the seek from landing one sample early through rounding.
	_tone.play(fmod((_frame * (MIX_RATE / FPS) + 0.5) / MIX_RATE, TONE_SECONDS))
	_show(_frame)


func _process(_delta: float) -> void:
	# Frame count, not delta: each frame shows `_frame`, whatever came before it.
	_show(_frame)
	_frame += 1


## The frame the render range starts the engine at (0 without a range).
func _start_frame() -> int:
	if not ClassDB.class_exists("MovieWriterAV1"):
		return 0
	var render: Dictionary = ClassDB.class_call_static("MovieWriterAV1", "get_render_range")
	if render["active"]:
		print("cutscene: frames %d to %d, starting %d pre-roll frames early at frame %d" % [
			render["start"], render["end"], render["preroll"], render["seek_frame"]])
	return render["seek_frame"]


## Puts every node where frame `f` has it: a pure function of `f`.
func _show(f: int) -> void:
	var t := float(f) / FPS
	_sky.color = Color.from_hsv(fmod(t * 0.05, 1.0), 0.5, 0.35)
	# A slow camera pan over the boxes' orbits.
	_world.position = Vector2(sin(t * 0.7) * 60.0, cos(t * 0.5) * 30.0)
	for i in _boxes.size():
		var phase := t * (0.8 + i * 0.09) + i * TAU / _boxes.size()
		_boxes[i].position = SIZE / 2 + Vector2(cos(phase) * 220.0, sin(phase * 1.3) * 120.0) - _boxes[i].size / 2
		_boxes[i].rotation = t * (1.0 + i * 0.2)
	_counter.text = "frame %d" % f


func _tone_stream() -> AudioStreamWAV:
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = MIX_RATE
	wav.stereo = false
	var length := MIX_RATE * TONE_SECONDS
	var data := PackedByteArray()
	data.resize(length * 2)
	for i in length:
		data.encode_s16(i * 2, int(sin(TAU * TONE_HZ * (i % MIX_RATE) / MIX_RATE) * 12000.0))
	wav.data = data
	wav.loop_mode = AudioStreamWAV.LOOP_FORWARD
	wav.loop_end = length
	return wav
