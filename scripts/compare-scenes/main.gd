extends Node2D
## Generated content classes for scripts/engine-compare.sh, one per run, chosen with
## `-- --class=NAME` on the engine's command line:
##   flat    flat-coloured shapes moving slowly over a plain background, and text (UI, cartoon)
##   noise   a full-screen static noise texture under moving sprites (detailed textures)
##   grain   shapes over a gradient with fresh full-screen grain every frame (film grain, noise)
##   motion  a high-contrast pattern scrolling fast under fast sprites (action, camera pans)
## Everything is seeded and driven by the frame count, so every run records the same frames and
## a recording can be compared frame by frame with another writer's.

const W := 1280.0
const H := 720.0
const NOISE_SHADER := """
shader_type canvas_item;
// Hash noise in cells of 2×2 pixels (grain has a size); frame changes the pattern (grain) or
// stays 0 (a static texture).
uniform float frame = 0.0;
uniform float amount = 1.0;
uniform bool colour = false;
float hash(vec2 p) {
	vec3 p3 = fract(vec3(p.xyx) * 0.1031);
	p3 += dot(p3, p3.yzx + 33.33);
	return fract((p3.x + p3.y) * p3.z);
}
void fragment() {
	vec2 p = floor(FRAGCOORD.xy / 2.0) + vec2(mod(frame, 97.0) * 131.0, mod(frame, 89.0) * 71.0);
	vec3 n = colour ? vec3(hash(p), hash(p + 1913.0), hash(p + 3917.0)) : vec3(hash(p));
	COLOR = vec4(n, amount);
}
"""
const STRIPES_SHADER := """
shader_type canvas_item;
// Diagonal stripes and a checkerboard, scrolled by offset: sharp edges that move fast.
uniform vec2 offset = vec2(0.0);
void fragment() {
	vec2 p = FRAGCOORD.xy + offset;
	float checker = mod(floor(p.x / 48.0) + floor(p.y / 48.0), 2.0);
	float stripe = step(0.5, fract((p.x + p.y) / 40.0));
	COLOR = vec4(mix(vec3(0.1, 0.2, 0.5), vec3(0.95, 0.85, 0.2), checker) * (0.6 + 0.4 * stripe), 1.0);
}
"""

var _class := "flat"
var _frame := 0
var _shapes: Array[Dictionary] = []
var _overlay: ColorRect
var _font: Font


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--class="):
			_class = arg.trim_prefix("--class=")
	if not _class in ["flat", "noise", "grain", "motion"]:
		push_error("unknown --class=%s: flat, noise, grain or motion" % _class)
		get_tree().quit(2)
		return
	_font = ThemeDB.fallback_font
	var rng := RandomNumberGenerator.new()
	rng.seed = 26
	var count := {"flat": 8, "noise": 16, "grain": 10, "motion": 24}[_class] as int
	var speed := 900.0 if _class == "motion" else 120.0
	for i in count:
		_shapes.append({
			"pos": Vector2(rng.randf_range(0, W), rng.randf_range(0, H)),
			"vel": Vector2(rng.randf_range(-speed, speed), rng.randf_range(-speed, speed)),
			"size": rng.randf_range(60, 220),
			"colour": Color.from_hsv(rng.randf(), rng.randf_range(0.5, 0.9), rng.randf_range(0.6, 1.0)),
			"round": rng.randf() < 0.5,
		})
	match _class:
		"noise":
			_add_layer(NOISE_SHADER, -1).material.set_shader_parameter("colour", true)
		"grain":
			_overlay = _add_layer(NOISE_SHADER, 1)
			_overlay.material.set_shader_parameter("amount", 0.12)
		"motion":
			_overlay = _add_layer(STRIPES_SHADER, -1)


## A full-screen rectangle drawn with `code`, under (z -1) or over (z 1) the shapes.
func _add_layer(code: String, z: int) -> ColorRect:
	var shader := Shader.new()
	shader.code = code
	var rect := ColorRect.new()
	rect.size = Vector2(W, H)
	rect.z_index = z
	rect.material = ShaderMaterial.new()
	rect.material.shader = shader
	add_child(rect)
	return rect


func _process(_delta: float) -> void:
	# Driven by frame count, not delta: the same frames at any --fixed-fps.
	_frame += 1
	var dt := 1.0 / 30.0
	for s in _shapes:
		s.pos += s.vel * dt
		if s.pos.x < 0 or s.pos.x > W:
			s.vel.x = -s.vel.x
		if s.pos.y < 0 or s.pos.y > H:
			s.vel.y = -s.vel.y
	if _class == "grain":
		_overlay.material.set_shader_parameter("frame", float(_frame))
	elif _class == "motion":
		_overlay.material.set_shader_parameter("offset", Vector2(_frame * 37.0, _frame * 11.0))
	queue_redraw()


func _draw() -> void:
	if _class == "flat":
		draw_rect(Rect2(0, 0, W, H), Color(0.16, 0.18, 0.22))
	elif _class == "grain":
		for y in 8:
			draw_rect(Rect2(0, y * H / 8, W, H / 8), Color.from_hsv(0.6, 0.5, 0.2 + y * 0.08))
	for s in _shapes:
		if s.round:
			draw_circle(s.pos, s.size / 2, s.colour)
		else:
			draw_rect(Rect2(s.pos - Vector2.ONE * s.size / 2, Vector2.ONE * s.size), s.colour)
	draw_string(_font, Vector2(24, 56), "%s  frame %d" % [_class, _frame], HORIZONTAL_ALIGNMENT_LEFT, -1, 40)
	draw_string(_font, Vector2(24, H - 32), "Score 0042310   Lives 3   Level 7-2", HORIZONTAL_ALIGNMENT_LEFT, -1, 28)
