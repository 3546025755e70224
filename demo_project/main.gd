extends Node2D
## A small, deterministic "game" for recording: a detailed tile map under a panning camera,
## parallax sky, moving and spinning sprites, HUD text, and a 440 Hz tone that starts at 0.5 s.
## Everything is seeded and driven by frame count, so Movie Maker output is reproducible.

const TILE := 32
const MAP := 32
const TONE_HZ := 440.0

var _frame := 0
var _sprites: Array[Sprite2D] = []
var _velocities: Array[Vector2] = []
var _ground: Sprite2D
var _score: Label
var _info: Label
var _tone: AudioStreamPlayer


func _ready() -> void:
	var rng := RandomNumberGenerator.new()
	rng.seed = 7
	_build_sky()
	_ground = Sprite2D.new()
	_ground.texture = ImageTexture.create_from_image(_tile_map(rng))
	_ground.centered = false
	_ground.region_enabled = true
	_ground.texture_repeat = CanvasItem.TEXTURE_REPEAT_ENABLED
	_ground.position = Vector2(0, 240)
	_ground.region_rect = Rect2(0, 0, 1280, 480)
	add_child(_ground)
	var ball := ImageTexture.create_from_image(_ball_image(48))
	for i in 40:
		var s := Sprite2D.new()
		s.texture = ball
		s.modulate = Color.from_hsv(rng.randf(), 0.7, 1.0)
		s.position = Vector2(rng.randf_range(0, 1280), rng.randf_range(0, 720))
		s.scale = Vector2.ONE * rng.randf_range(0.4, 1.4)
		add_child(s)
		_sprites.append(s)
		_velocities.append(Vector2(rng.randf_range(-240, 240), rng.randf_range(-240, 240)))
	_score = _label(Vector2(16, 8), 32)
	_info = _label(Vector2(16, 52), 20)
	_tone = AudioStreamPlayer.new()
	_tone.stream = _tone_stream()
	add_child(_tone)
	_report_capabilities()


func _process(_delta: float) -> void:
	# Driven by frame count, not delta: identical output at any --fixed-fps.
	_frame += 1
	var t := _frame / 60.0
	_ground.region_rect.position = Vector2(t * 180.0, sin(t * 0.6) * 120.0 + 200.0)
	for i in _sprites.size():
		var s := _sprites[i]
		s.position += _velocities[i] / 60.0
		if s.position.x < 0 or s.position.x > 1280:
			_velocities[i].x = -_velocities[i].x
		if s.position.y < 0 or s.position.y > 720:
			_velocities[i].y = -_velocities[i].y
		s.rotation = t * (1.0 + i * 0.05)
	_score.text = "SCORE %06d" % (_frame * 10)
	_info.text = "frame %d   MovieWriterAV1 demo" % _frame
	if _frame == 30:
		_tone.play()
	if _frame % 60 == 0:
		# Progress, one line a second of movie time (the engine tests read it).
		print("demo: frame %d" % _frame)


func _build_sky() -> void:
	var gradient := Gradient.new()
	gradient.set_color(0, Color(0.2, 0.35, 0.8))
	gradient.set_color(1, Color(0.85, 0.6, 0.4))
	var tex := GradientTexture2D.new()
	tex.gradient = gradient
	tex.fill_from = Vector2(0, 0)
	tex.fill_to = Vector2(0, 1)
	tex.width = 1280
	tex.height = 240
	var sky := Sprite2D.new()
	sky.texture = tex
	sky.centered = false
	add_child(sky)


func _tile_map(rng: RandomNumberGenerator) -> Image:
	var img := Image.create(TILE * MAP, TILE * MAP, false, Image.FORMAT_RGBA8)
	for ty in MAP:
		for tx in MAP:
			var kind := rng.randi_range(0, 2)
			for y in TILE:
				for x in TILE:
					var n := rng.randf_range(-0.08, 0.08)
					var c: Color
					match kind:
						0:
							var mortar := y % 8 == 0 or (x + (0 if (y / 8) % 2 == 0 else 8)) % 16 == 0
							c = Color(0.67, 0.65, 0.59) if mortar else Color(0.59, 0.24, 0.16)
						1:
							c = Color(0.24, 0.55 + ((x * 7 + y * 3) % 20) / 255.0, 0.2)
						_:
							var d := (pow(x - 16, 2) + pow(y - 16, 2)) / 6000.0
							c = Color(0.43 - d, 0.43 - d, 0.47 - d)
					img.set_pixel(tx * TILE + x, ty * TILE + y, Color(c.r + n, c.g + n, c.b + n))
	return img


func _ball_image(size: int) -> Image:
	var img := Image.create(size, size, false, Image.FORMAT_RGBA8)
	var r := size / 2.0
	for y in size:
		for x in size:
			var d := Vector2(x + 0.5 - r, y + 0.5 - r).length()
			if d <= r - 3:
				img.set_pixel(x, y, Color(1, 1, 1).darkened(d / r * 0.5))
			elif d <= r:
				img.set_pixel(x, y, Color(0.05, 0.05, 0.05))
	return img


func _label(pos: Vector2, size: int) -> Label:
	var l := Label.new()
	l.position = pos
	l.add_theme_font_size_override("font_size", size)
	l.add_theme_color_override("font_outline_color", Color.BLACK)
	l.add_theme_constant_override("outline_size", 6)
	add_child(l)
	return l


func _tone_stream() -> AudioStreamWAV:
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = 48000
	wav.stereo = false
	var data := PackedByteArray()
	data.resize(48000 * 2)
	for i in 48000:
		data.encode_s16(i * 2, int(sin(TAU * TONE_HZ * i / 48000.0) * 16000.0))
	wav.data = data
	wav.loop_mode = AudioStreamWAV.LOOP_FORWARD
	wav.loop_end = 48000
	return wav


func _report_capabilities() -> void:
	if not ClassDB.class_exists("MovieWriterAV1"):
		print("MovieWriterAV1 is not loaded: build the addon (./dev build).")
		return
	var caps: Dictionary = ClassDB.class_call_static("MovieWriterAV1", "get_encoding_capabilities")
	print("MovieWriterAV1: hardware encoding supported: %s; auto uses %s" % [
		ClassDB.class_call_static("MovieWriterAV1", "is_hardware_encoding_supported"), caps["auto_backend"]])

